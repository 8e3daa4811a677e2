// Editing a user message in place: the text and "Save & send" (which makes a new version of the
// message and a new reply) or Cancel.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: editor
    property bool active: false
    property string initialText: ""
    signal saved(string text)
    signal cancelled()
    spacing: 6

    onActiveChanged: if (active) { area.text = initialText; area.forceActiveFocus() }

    TextArea {
        id: area
        Layout.fillWidth: true
        wrapMode: TextEdit.Wrap
        selectByMouse: true
        Accessible.name: qsTr("Edit message text")
        Keys.onEscapePressed: editor.cancelled()
    }
    RowLayout {
        Layout.alignment: Qt.AlignRight
        Button {
            text: qsTr("Cancel")
            Accessible.name: qsTr("Cancel editing")
            onClicked: editor.cancelled()
        }
        Button {
            text: qsTr("Save & send")
            highlighted: true
            Accessible.name: qsTr("Save the edited message and send it")
            enabled: area.text.trim().length > 0
            onClicked: editor.saved(area.text)
        }
    }
}
