// The model's reasoning (its <think> section), collapsed under a header: "Thinking…" while the
// model is still in it, "Reasoning" afterwards. Click the header to show or hide it.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

ColumnLayout {
    id: reasoning
    property string text: ""
    property bool thinking: false
    property bool expanded: false
    objectName: "reasoningBlock"
    spacing: 4

    ToolButton {
        objectName: "reasoningToggle"
        text: (reasoning.expanded ? "▾ " : "▸ ") + (reasoning.thinking ? qsTr("Thinking…") : qsTr("Reasoning"))
        font.italic: true
        Accessible.name: reasoning.expanded ? qsTr("Hide reasoning") : qsTr("Show reasoning")
        onClicked: reasoning.expanded = !reasoning.expanded
    }

    Rectangle {
        Layout.fillWidth: true
        visible: reasoning.expanded
        implicitHeight: thought.implicitHeight + 8
        color: "transparent"
        Rectangle { width: 3; height: parent.height; color: palette.mid; radius: 1 }
        Label {
            id: thought
            objectName: "reasoningText"
            x: 12
            y: 4
            width: parent.width - 12
            text: reasoning.text
            wrapMode: Text.Wrap
            opacity: 0.75
            textFormat: Text.PlainText
            Accessible.name: qsTr("Reasoning text")
        }
    }
}
