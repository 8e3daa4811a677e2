// A short-lived bar under the sidebar list: what just happened, with Undo and a close button.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: bar
    property alias text: label.text
    signal undo()
    signal dismissed()
    padding: 6

    RowLayout {
        anchors.fill: parent
        spacing: 4
        Label {
            id: label
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            Accessible.name: text
        }
        Button {
            text: qsTr("Undo")
            Accessible.name: qsTr("Undo move to trash")
            onClicked: bar.undo()
        }
        ToolButton {
            text: "✕"
            Accessible.name: qsTr("Dismiss")
            onClicked: bar.dismissed()
        }
    }
}
